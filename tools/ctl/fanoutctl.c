/* SPDX-License-Identifier: MIT */
/*
 * fanoutctl: fanoutd's admin and job tool, a client of the msgpack socket
 * API (doc/PROTOCOL.md; usage in fanoutctl(8)).
 *
 * Exit status: 0 done; 1 the daemon refused or failed the command (its
 * message on stderr, e.g. the file:line of a refused config), or a submitted
 * job had failed rows; 2 usage; 3 the daemon could not be reached or the
 * connection broke.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: fanoutctl [-s SOCKET] [--json] COMMAND\n"
		   "  status | stats | modules | limits | jobs | branches   read-only (any peer)\n"
		   "  limit get NAME                   one limiter\n"
		   "  limit set NAME N                 live limit change (operator)\n"
		   "  drain [--off]                    refuse new requests and jobs / serve again "
		   "(operator)\n"
		   "  job cancel ID                    cancel a running job (operator)\n"
		   "  reload                           reload the config (admin); fails with\n"
		   "                                   file:line when it is refused\n"
		   "  shutdown                         graceful stop (admin)\n"
		   "  submit --kind KIND [--policy P] [--limit N] [--window N] [--ordered]\n"
		   "         [-i FILE|-] [-o FILE|-] [--raw] [--quiet]\n"
		   "                                   run a batch job (see fanoutctl(8))\n"
		   "  top [-d SECONDS] [-n COUNT]      live view: rates, p99 per branch, limits\n"
		   "  -s, --socket PATH   default /run/fanoutd/fanoutd.sock\n"
		   "      --json          the reply's data as JSON\n");
}

static bool is(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

int main(int argc, char **argv)
{
	static const struct option longs[] = {{"socket", required_argument, NULL, 's'},
					      {"json", no_argument, NULL, 'j'},
					      {"help", no_argument, NULL, 'h'},
					      {NULL, 0, NULL, 0}};
	const char *path = "/run/fanoutd/fanoutd.sock";
	bool as_json = false;
	int c;
	/* '+': options after the command belong to it (submit, top). */
	while ((c = getopt_long(argc, argv, "+s:h", longs, NULL)) != -1) {
		if (c == 's')
			path = optarg;
		else if (c == 'j')
			as_json = true;
		else if (c == 'h') {
			usage(stdout);
			return CTL_OK;
		} else {
			usage(stderr);
			return CTL_USAGE;
		}
	}
	int nargs = argc - optind;
	char **a = argv + optind;
	/* --json may also follow the command */
	if (nargs >= 2 && is(a[nargs - 1], "--json")) {
		as_json = true;
		nargs--;
	}
	if (nargs >= 1 && is(a[0], "submit"))
		return ctl_submit(path, nargs, a);
	if (nargs >= 1 && is(a[0], "top"))
		return ctl_top(path, nargs, a);
	struct ctl_req req;
	if (nargs == 1 && (is(a[0], "status") || is(a[0], "stats") || is(a[0], "modules") ||
			   is(a[0], "limits") || is(a[0], "jobs") || is(a[0], "branches") ||
			   is(a[0], "reload") || is(a[0], "shutdown"))) {
		ctl_req_init(&req, a[0], 0);
	} else if (nargs == 3 && is(a[0], "limit") && is(a[1], "get")) {
		ctl_req_init(&req, "limit.get", 1);
		ctl_pack_str(&req.pk, "name");
		ctl_pack_str(&req.pk, a[2]);
	} else if (nargs == 4 && is(a[0], "limit") && is(a[1], "set")) {
		char *end;
		errno = 0;
		unsigned long long n = strtoull(a[3], &end, 10);
		if (*end || !*a[3] || a[3][0] == '-' || errno == ERANGE) {
			fprintf(stderr, "fanoutctl: limit must be a positive integer, not '%s'\n",
				a[3]);
			return CTL_USAGE;
		}
		ctl_req_init(&req, "limit.set", 2);
		ctl_pack_str(&req.pk, "name");
		ctl_pack_str(&req.pk, a[2]);
		ctl_pack_str(&req.pk, "limit");
		msgpack_pack_unsigned_long_long(&req.pk, n);
	} else if ((nargs == 1 || (nargs == 2 && is(a[1], "--off"))) && is(a[0], "drain")) {
		ctl_req_init(&req, "drain", 1);
		ctl_pack_str(&req.pk, "enable");
		nargs == 1 ? msgpack_pack_true(&req.pk) : msgpack_pack_false(&req.pk);
	} else if (nargs == 3 && is(a[0], "job") && is(a[1], "cancel")) {
		char *end;
		errno = 0;
		unsigned long long id = strtoull(a[2], &end, 10);
		/* strtoull takes "-1" as 2^64-1 and saturates on overflow: neither is an id */
		if (*end || !id || a[2][0] == '-' || errno == ERANGE) {
			fprintf(stderr, "fanoutctl: a job id is a positive integer, not '%s'\n",
				a[2]);
			return CTL_USAGE;
		}
		ctl_req_init(&req, "job.cancel", 1);
		ctl_pack_str(&req.pk, "job");
		msgpack_pack_unsigned_long_long(&req.pk, id);
	} else {
		usage(stderr);
		return CTL_USAGE;
	}
	struct ctl_reply rep;
	int rc = ctl_call(path, &req, &rep);
	ctl_req_free(&req);
	if (rc != CTL_OK)
		return rc;
	if (rep.status != 0) {
		fprintf(stderr, "fanoutctl: %s\n", rep.msg);
		ctl_reply_free(&rep);
		return CTL_FAILED;
	}
	/* A change the daemon made otherwise than asked (a clamped limit) is said on stderr. */
	if (nargs == 4 && is(a[0], "limit") && is(a[1], "set") && strcmp(rep.msg, "ok") != 0)
		fprintf(stderr, "fanoutctl: %s\n", rep.msg);
	if (rep.data && as_json) {
		ctl_json(stdout, rep.data);
		putchar('\n');
	} else if (rep.data && rep.data->type != MSGPACK_OBJECT_NIL) {
		ctl_human(stdout, rep.data);
	} else {
		printf("%s\n", rep.msg);
	}
	ctl_reply_free(&rep);
	return CTL_OK;
}
