/* A hung mount on demand, for preflight's watchdog test: open(2) of any path
 * holding "hang-forever" never returns (signal handlers still run, as they do
 * for a process stuck on a FIFO or an NFS server that went away). No real
 * peer produces this when asked; loaded with LD_PRELOAD into the glibc build. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

static void hang(const char *path) {
    if (path && strstr(path, "hang-forever"))
        for (;;)
            pause();
}

#define WRAP(name, ...)                                                        \
    {                                                                          \
        va_list ap;                                                            \
        va_start(ap, flags);                                                   \
        mode_t mode = va_arg(ap, mode_t);                                      \
        va_end(ap);                                                            \
        hang(path);                                                            \
        int (*real)() = (int (*)())dlsym(RTLD_NEXT, name);                     \
        return real(__VA_ARGS__);                                              \
    }

int open(const char *path, int flags, ...) WRAP("open", path, flags, mode)
int open64(const char *path, int flags, ...) WRAP("open64", path, flags, mode)
int openat(int dir, const char *path, int flags, ...) WRAP("openat", dir, path, flags, mode)
int openat64(int dir, const char *path, int flags, ...) WRAP("openat64", dir, path, flags, mode)
