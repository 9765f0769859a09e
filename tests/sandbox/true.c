/* true.c — the smallest static program: the benchmark's /bin/true. */
int main(void)
{
    return 0;
}
