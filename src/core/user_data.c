// SPDX-License-Identifier: MIT
#include "ringer/user_data.h"

static const char *const op_names[UD_OP_COUNT] = {
	[UD_OP_NONE] = "none",	       [UD_OP_ACCEPT] = "accept",
	[UD_OP_RECV] = "recv",	       [UD_OP_SEND] = "send",
	[UD_OP_SHUTDOWN] = "shutdown", [UD_OP_CLOSE] = "close",
	[UD_OP_CANCEL] = "cancel",     [UD_OP_TICK] = "tick",
	[UD_OP_CONNECT] = "connect",   [UD_OP_MSG] = "msg",
	[UD_OP_NOP] = "nop",	       [UD_OP_SOCKET] = "socket",
	[UD_OP_SOCKOPT] = "sockopt",   [UD_OP_LINK_TIMEOUT] = "link_timeout",
	[UD_OP_OUTQ] = "outq",	       [UD_OP_WRITE] = "write",
	[UD_OP_BIND] = "bind",
};

const char *ud_op_name(unsigned op)
{
	return op < UD_OP_COUNT ? op_names[op] : "?";
}
