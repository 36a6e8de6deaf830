-- SPDX-License-Identifier: MIT
-- wrk script: every request() hands wrk 16 GETs at once, so each
-- connection keeps 16 requests in flight (HTTP/1.1 pipelining). wrk counts
-- the responses one by one, so req/s and latency stay per response.
local depth = 16
local batch

init = function(args)
	local reqs = {}
	for i = 1, depth do
		reqs[i] = wrk.format(nil, "/")
	end
	batch = table.concat(reqs)
end

request = function()
	return batch
end
