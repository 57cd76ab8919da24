// dmond's entry point: parse settings, then hand over to the composition root.
#include <iostream>

#include "config.hpp"
#include "node.hpp"

int main(int argc, char** argv) {
  dmon::block_shutdown_signals();
  std::string help;
  auto cfg = dmon::parse_config(argc, argv, help);
  if (!cfg) {
    std::cerr << "dmond: " << cfg.error().message << "\n";
    return 2;
  }
  if (!help.empty()) {
    std::cout << help;
    return 0;
  }
  return dmon::run_node(*cfg);
}
