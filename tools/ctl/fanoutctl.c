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
#include <unistd.h>

#include "common.h"
#include "conf.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: fanoutctl [-s SOCKET | -c CONFIG] [--json] COMMAND\n"
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
		"  top [-d SECONDS] [-n COUNT] [--json]\n"
		"                                   live view: rates, p99 per branch, limits\n"
		"  -s, --socket PATH   the admin socket; else api.socket of the config,\n"
		"                      else $FANOUTCTL_SOCKET, else %s's,\n"
		"                      else %s\n"
		"  -c, --config FILE   fanoutd's configuration file (for api.socket, and\n"
		"                      the branch timeouts top caps percentiles at)\n"
		"      --json          the reply's data as JSON\n"
		"  -V, --version       print the version\n",
		CTL_DEFAULT_CONFIG, CTL_DEFAULT_SOCKET);
}

static bool is(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

static const char *const commands[] = {"status",   "stats",  "modules", "limits", "jobs",
				       "branches", "limit",  "drain",	"job",	  "reload",
				       "shutdown", "submit", "top",	NULL};

static bool known_command(const char *c)
{
	for (size_t i = 0; commands[i]; i++)
		if (is(c, commands[i]))
			return true;
	return false;
}

/*
 * Where the daemon listens: -s; else the api.socket of -c FILE; else
 * $FANOUTCTL_SOCKET; else the api.socket of the default configuration file
 * (what the unit's ExecReload relies on); else the built-in default. A
 * configuration that cannot be read only warns: a reload after a bad edit
 * must still reach the daemon, which then names the error.
 */
static int find_socket(const char *sock, const char *conf_path, struct ctl_conf *conf, char *out,
		       size_t outlen)
{
	char err[1024];
	const char *env = getenv("FANOUTCTL_SOCKET");
	bool explicit_conf = conf_path != NULL;
	memset(conf, 0, sizeof(*conf));
	if (!conf_path && !(sock || (env && *env)))
		conf_path = CTL_DEFAULT_CONFIG;
	/* The default file is often absent or not readable by the caller: only a broken one is
	 * worth a word. */
	int rc = conf_path ? ctl_conf_read(conf, conf_path, err, sizeof(err)) : 0;
	if (rc < 0 && (explicit_conf || rc == -1))
		fprintf(stderr, "fanoutctl: warning: %s\n", err);
	if (sock) {
		snprintf(out, outlen, "%s", sock);
		return 0;
	}
	if (explicit_conf && conf->has_socket) {
		if (!*conf->socket) {
			fprintf(stderr,
				"fanoutctl: %s runs fanoutd without an admin socket "
				"(api.socket is empty)\n",
				conf_path);
			return -1;
		}
		snprintf(out, outlen, "%s", conf->socket);
		return 0;
	}
	if (env && *env) {
		snprintf(out, outlen, "%s", env);
		return 0;
	}
	snprintf(out, outlen, "%s",
		 conf->has_socket && *conf->socket ? conf->socket : CTL_DEFAULT_SOCKET);
	return 0;
}

static int bad_args(const char *cmd)
{
	fprintf(stderr, "fanoutctl: wrong arguments for '%s'\n", cmd);
	usage(stderr);
	return CTL_USAGE;
}

static int run_command(const char *path, const struct ctl_conf *conf, bool as_json, int nargs,
		       char **a)
{
	if (nargs >= 1 && is(a[0], "submit"))
		return ctl_submit(path, nargs, a);
	if (nargs >= 1 && is(a[0], "top"))
		return ctl_top(path, conf, as_json, nargs, a);
	struct ctl_req req;
	if (nargs == 1 && (is(a[0], "status") || is(a[0], "stats") || is(a[0], "modules") ||
			   is(a[0], "limits") || is(a[0], "jobs") || is(a[0], "branches") ||
			   is(a[0], "reload") || is(a[0], "shutdown"))) {
		ctl_req_init(&req, a[0], 0);
	} else if (nargs == 3 && is(a[0], "limit") && is(a[1], "get")) {
		ctl_req_init(&req, "limit.get", 1);
		mp_str(&req.pk, "name");
		mp_str(&req.pk, a[2]);
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
		mp_str(&req.pk, "name");
		mp_str(&req.pk, a[2]);
		mp_str(&req.pk, "limit");
		msgpack_pack_unsigned_long_long(&req.pk, n);
	} else if ((nargs == 1 || (nargs == 2 && is(a[1], "--off"))) && is(a[0], "drain")) {
		ctl_req_init(&req, "drain", 1);
		mp_str(&req.pk, "enable");
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
		mp_str(&req.pk, "job");
		msgpack_pack_unsigned_long_long(&req.pk, id);
	} else {
		return bad_args(a[0]);
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

int main(int argc, char **argv)
{
	static const struct option longs[] = {
		{"socket", required_argument, NULL, 's'}, {"config", required_argument, NULL, 'c'},
		{"json", no_argument, NULL, 'j'},	  {"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},	  {NULL, 0, NULL, 0}};
	const char *sock = NULL, *conf_path = NULL;
	bool as_json = false;
	int c;
	/* '+': options after the command belong to it (submit, top). */
	while ((c = getopt_long(argc, argv, "+s:c:hV", longs, NULL)) != -1) {
		if (c == 's')
			sock = optarg;
		else if (c == 'c')
			conf_path = optarg;
		else if (c == 'j')
			as_json = true;
		else if (c == 'V') {
			printf("fanoutctl %s\n", PACKAGE_VERSION);
			return CTL_OK;
		} else if (c == 'h') {
			usage(stdout);
			return CTL_OK;
		} else {
			usage(stderr);
			return CTL_USAGE;
		}
	}
	int nargs = argc - optind;
	char **a = argv + optind;
	if (nargs == 0) {
		fprintf(stderr, "fanoutctl: no command given\n");
		usage(stderr);
		return CTL_USAGE;
	}
	if (!known_command(a[0])) {
		fprintf(stderr, "fanoutctl: unknown command '%s'\n", a[0]);
		usage(stderr);
		return CTL_USAGE;
	}
	/* --json may also follow the command */
	if (nargs >= 2 && is(a[nargs - 1], "--json")) {
		as_json = true;
		nargs--;
	}
	struct ctl_conf conf;
	char path[4096];
	if (find_socket(sock, conf_path, &conf, path, sizeof(path)) < 0) {
		ctl_conf_free(&conf);
		return CTL_UNREACHABLE;
	}
	int rc = run_command(path, &conf, as_json, nargs, a);
	ctl_conf_free(&conf);
	return rc;
}
