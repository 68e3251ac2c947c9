// trainmem: the command-line front end; all logic is in run_cli() so tests drive the same code.
#include <iostream>

#include "tools/cli/cli.hpp"

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  return trainmem::tools::run_cli(args, std::cout, std::cerr);
}
