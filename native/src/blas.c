/* Finds a CBLAS with dlopen: the one JUKEFLOW_BLAS names, else the first of the common names that loads. */
#define _GNU_SOURCE
#include "blas.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const CANDIDATES[] = {
#ifdef __APPLE__
  "libopenblas.dylib",
  "/opt/homebrew/opt/openblas/lib/libopenblas.dylib",
  "/usr/local/opt/openblas/lib/libopenblas.dylib",
  "/System/Library/Frameworks/Accelerate.framework/Accelerate",
#else
  "libopenblas.so.0",
  "libopenblas.so",
  "libopenblasp.so.0",
  "libopenblaso.so.0",
  "libblis.so.4",
  "libblis.so",
  "libmkl_rt.so.2",
  "libmkl_rt.so",
#endif
};

static Blas loaded;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* BLIS takes its thread count as a 64-bit dim_t. */
static void (*bli_thread_set_num_threads)(long long);
static void bli_set_threads(int n) { bli_thread_set_num_threads(n); }

/* Takes the library at `name` if it has cblas_sgemm; otherwise appends why not to `tried`. */
static int try_open(const char *name, char *tried, size_t size) {
  const size_t used = strlen(tried);
  void *handle = dlopen(name, RTLD_NOW | RTLD_LOCAL);
  sgemm_fn sgemm = handle ? (sgemm_fn)dlsym(handle, "cblas_sgemm") : NULL;
  if (sgemm == NULL) {
    const char *why = handle ? NULL : dlerror(); /* dlerror names the file */
    if (why) snprintf(tried + used, size - used, "%s%s", used ? "; " : "", why);
    else snprintf(tried + used, size - used, "%s%s %s", used ? "; " : "", name, handle ? "has no cblas_sgemm" : "did not load");
    if (handle) dlclose(handle);
    return 0;
  }
  loaded.sgemm = sgemm;
  loaded.sgemv = (sgemv_fn)dlsym(handle, "cblas_sgemv");
  loaded.path = name;
  char *(*get_config)(void) = (char *(*)(void))dlsym(handle, "openblas_get_config");
  loaded.config = get_config ? get_config() : NULL;
  loaded.get_threads = (int (*)(void))dlsym(handle, "openblas_get_num_threads");
  loaded.set_threads = (void (*)(int))dlsym(handle, "openblas_set_num_threads");
  loaded.get_parallel = (int (*)(void))dlsym(handle, "openblas_get_parallel");
  if (loaded.set_threads == NULL) {
    bli_thread_set_num_threads = (void (*)(long long))dlsym(handle, "bli_thread_set_num_threads");
    if (bli_thread_set_num_threads) loaded.set_threads = bli_set_threads;
  }
  return 1;
}

static void load(void) {
  char tried[sizeof loaded.error - 64] = "";
  const char *chosen = getenv("JUKEFLOW_BLAS");
  /* An explicit choice that fails is reported, not replaced by another library. */
  if (chosen != NULL && chosen[0] != '\0') {
    if (!try_open(chosen, tried, sizeof tried)) snprintf(loaded.error, sizeof loaded.error, "JUKEFLOW_BLAS did not load (%s)", tried);
    return;
  }
  for (size_t i = 0; i < sizeof CANDIDATES / sizeof CANDIDATES[0]; i++)
    if (try_open(CANDIDATES[i], tried, sizeof tried)) return;
  snprintf(loaded.error, sizeof loaded.error, "no BLAS library loaded (%s)", tried);
}

const Blas *blas_load(void) {
  pthread_once(&once, load);
  return &loaded;
}
