/* curl_lazy.h - libcurl loaded at its first use (see curl_lazy.c). The curl_*
 * functions barforge calls are defined in curl_lazy.c; these report whether
 * libcurl could be loaded. */
#ifndef BF_CURL_LAZY_H
#define BF_CURL_LAZY_H

/* load libcurl now if not yet tried: 1 when it is usable */
int bf_curl_load(void);

/* why libcurl could not be loaded, or NULL when it was */
const char *bf_curl_load_error(void);

#endif
