/* write2g.c — writes 2 GiB to a new file in 1 MiB pwrites from one hot buffer, then fsyncs,
 * through the page cache or with O_DIRECT, and prints the wall and system CPU seconds.
 * Separates what a large download costs the kernel from what the tool does (BENCHMARKS.md,
 * "The big download and the page cache"). Usage: write2g FILE buffered|direct */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 3 || (strcmp(argv[2], "buffered") && strcmp(argv[2], "direct"))) {
        fprintf(stderr, "usage: %s FILE buffered|direct\n", argv[0]);
        return 2;
    }
    const size_t chunk = 1 << 20, total = (size_t)2 << 30;
    int direct = !strcmp(argv[2], "direct");
    char *buf = aligned_alloc(4096, chunk);
    if (!buf) return 1;
    memset(buf, 7, chunk);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    int fd = open(argv[1], O_CREAT | O_TRUNC | O_WRONLY | (direct ? O_DIRECT : 0), 0644);
    if (fd < 0) { perror(argv[1]); return 1; }
    for (size_t off = 0; off < total; off += chunk)
        if (pwrite(fd, buf, chunk, (off_t)off) != (ssize_t)chunk) { perror("pwrite"); return 1; }
    if (fsync(fd)) { perror("fsync"); return 1; }
    clock_gettime(CLOCK_MONOTONIC, &b);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("%s wall %.2f s, system CPU %.2f s\n", argv[2],
           (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9,
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6);
    close(fd);
    return 0;
}
