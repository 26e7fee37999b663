/* SPDX-License-Identifier: MIT */
/* The internal endpoints (/metrics, /healthz, /readyz, the dashboard at /). */
#ifndef FOD_ENDPOINTS_H
#define FOD_ENDPOINTS_H

/* Registers them in http.c's route table; 0 or -errno. */
int fod_endpoints_register(void);

#endif
