/*
 * LD_PRELOAD shim that turns fsync-family calls into no-ops, used by the benchmark to emulate
 * "fsync off" for a server that has no option for it. Benchmark use only: it removes durability.
 * Build: cc -shared -fPIC -O2 -o nosync.so nosync.c
 */
#include <sys/types.h>

int fsync(int fd) { (void)fd; return 0; }
int fdatasync(int fd) { (void)fd; return 0; }
int syncfs(int fd) { (void)fd; return 0; }
void sync(void) {}
int sync_file_range(int fd, off_t offset, off_t nbytes, unsigned int flags) {
  (void)fd; (void)offset; (void)nbytes; (void)flags;
  return 0;
}
