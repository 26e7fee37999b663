/* SPDX-License-Identifier: MIT */
/*
 * The @include files a configuration names, checked before libconfig reads
 * them. Debian 12's libconfig 1.5 exits the whole process (its flex
 * scanner's fatal error, "input in flex scanner failed") when an @include
 * opens but cannot be read, as a directory does: a reload naming one would
 * end the daemon instead of being refused. So every @include is found and
 * resolved here exactly as libconfig 1.5 will resolve it, and one naming
 * anything but a regular file refuses the configuration.
 */
#ifndef FOD_INCLUDES_H
#define FOD_INCLUDES_H

#include <stddef.h>

/*
 * file: the configuration; include_dir: libconfig's include directory (NULL
 * when none is set). 0 when libconfig may read them (a missing file is left
 * for libconfig to name), or -errno with err saying "FILE:LINE: ...": an
 * @include naming a directory (-EISDIR) or anything else not a regular file
 * (-EINVAL), one whose name the file never closes (-EINVAL), one nested past
 * libconfig's 10 files (-ELOOP), a file past 64 MiB (-EFBIG), -EIO, -ENOMEM.
 * A file that is not a regular one (a pipe: -c <(...)) can be read only
 * once: its text is read here, checked, and given in *text (malloc'ed, *len
 * bytes) for the caller to parse instead of the file; *text is NULL otherwise.
 */
int fod_check_includes(const char *file, const char *include_dir, char **text, size_t *len,
		       char *err, size_t errlen);

/*
 * The name an @include directive gives, decoded as libconfig 1.5's scanner
 * does, from just after its opening quote: \\ and \" stand for \ and ", any
 * other backslash is dropped, a NUL ends the run of plain characters it is
 * in, and the name runs to the closing quote across lines. Returns a
 * malloc'ed name and sets *end past the closing quote; NULL with *end NULL
 * when the quote is never closed, NULL with *end set when out of memory.
 */
char *fod_include_name(const char *p, const char *limit, const char **end);

#endif
