// glassbox-cli: inspect, run and benchmark models from the command line.
#include <cstdio>
int main() { std::puts("glassbox-cli: not built yet"); return 1; }
