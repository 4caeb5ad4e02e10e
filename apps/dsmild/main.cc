// dsmild: the DSMIL node daemon. One binary for every role:
//   dsmild --config node-a.yaml            run until SIGTERM / SIGINT
//   dsmild --config node-a.yaml --check    validate the config and exit
// Exit status: 0 clean stop, 1 failed to start, 2 bad usage or config.
#include <sys/stat.h>

#include <csignal>
#include <cstring>
#include <iostream>
#include <string>

#include "node/config.h"
#include "node/node.h"

namespace {

void Usage() {
  std::cerr << "usage: dsmild --config FILE [--check]\n"
               "  --config FILE   node configuration (YAML; see docs/configuration.md)\n"
               "  --check         validate the configuration and exit\n";
}

}  // namespace

int main(int argc, char** argv) {
  // Everything the node creates (stores, logs, spools, snapshots) is its
  // user's alone, also where a library creates files with the umask's mode.
  ::umask(077);
  std::string config_path;
  bool check = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if ((a == "--config" || a == "-c") && i + 1 < argc) {
      config_path = argv[++i];
    } else if (a.rfind("--config=", 0) == 0) {
      config_path = a.substr(9);
    } else if (a == "--check") {
      check = true;
    } else if (a == "--help" || a == "-h") {
      Usage();
      return 0;
    } else {
      std::cerr << "dsmild: unknown argument '" << a << "'\n";
      Usage();
      return 2;
    }
  }
  if (config_path.empty()) {
    Usage();
    return 2;
  }
  auto config = dsmil::node::LoadNodeConfig(config_path);
  if (!config.ok()) {
    std::cerr << "dsmild: bad config: " << config.status().message() << "\n";
    return 2;
  }
  if (check) {
    std::cout << "dsmild: " << config_path << " is valid (node " << config->name << ", role "
              << dsmil::node::RoleName(config->role) << ", " << config->devices.size() << " devices)\n";
    return 0;
  }

  // Block the stop signals in every thread; the main thread waits for them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  auto node = dsmil::node::Node::Start(std::move(*config));
  if (!node.ok()) {
    std::cerr << "dsmild: cannot start: " << node.status().ToString() << "\n";
    return 1;
  }
  int sig = 0;
  sigwait(&stop_signals, &sig);
  std::cerr << "dsmild: " << strsignal(sig) << ", stopping\n";
  (*node)->Stop();
  return 0;
}
