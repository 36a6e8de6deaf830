# SPDX-License-Identifier: MIT
# Shared by the tools/bench-*.sh scripts (sourced, not run): ports, the one
# nginx configuration every comparison uses, CPU time of a process, medians.

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() {
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.05
	done
	echo "nothing listens on port $1" >&2
	return 1
}

# start_nginx_on WORKDIR CPU: the fairest nginx for these comparisons: one
# worker without a master (so its PID is the worker) pinned to CPU, no access
# log, keep-alive without a request cap, room for every connection, and the
# response ringer sends (a 13-byte text/plain body). Sets NGINX_PID and
# NGINX_PORT.
start_nginx_on() {
	local dir=$1/nginx cpu=$2
	NGINX_PORT=$(free_port)
	mkdir -p "$dir"
	cat >"$dir/nginx.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 65536;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 16384; multi_accept on; }
http {
  access_log off;
  keepalive_timeout 75s;
  keepalive_requests 1000000;
  client_body_temp_path $dir; proxy_temp_path $dir;
  fastcgi_temp_path $dir; uwsgi_temp_path $dir; scgi_temp_path $dir;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / { default_type text/plain; return 200 "Hello, World!"; }
  }
}
CONF
	taskset -c "$cpu" "$(command -v nginx || echo /usr/sbin/nginx)" -c "$dir/nginx.conf" \
		-p "$dir" -e "$dir/error.log" &
	NGINX_PID=$!
	wait_port "$NGINX_PORT"
}

# utime + stime of a process (all its threads, io_uring's io-wq workers
# included), in clock ticks; empty when the process is gone. The command name
# in /proc/PID/stat may hold spaces, so fields count from its closing ')'.
cpu_ticks() {
	sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $12 + $13 }'
}

# The median of the numbers on standard input, one per line.
median() {
	sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
