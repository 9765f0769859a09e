/* hello.c — a static hello world for the benchmark and the smoke tests. */
#include <stdio.h>

int main(void)
{
    puts("hello, world");
    return 0;
}
