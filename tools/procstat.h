/* SPDX-License-Identifier: MIT */
/* What /proc says about this process: the numbers every benchmark samples. */
#ifndef FO_PROCSTAT_H
#define FO_PROCSTAT_H

struct procstat {
	long rss_kib, hwm_kib; /* VmRSS, VmHWM */
	long threads, fds;
};

/* Reads /proc/self; fields it cannot read are -1. */
void procstat_read(struct procstat *ps);

#endif
