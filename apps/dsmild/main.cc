// dsmild: the DSMIL node daemon. One binary for every role:
//   dsmild --config node-a.yaml            run until SIGTERM / SIGINT
//   dsmild --config node-a.yaml --check    validate the config and exit
//   dsmild --help | --version
// Exit status: 0 clean stop, 1 failed to start, 2 bad usage or config.
#include <sys/stat.h>

#include <csignal>
#include <cstring>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>

#include "node/config.h"
#include "node/node.h"

int main(int argc, char** argv) {
  // Everything the node creates (stores, logs, spools, snapshots) is its
  // user's alone, also where a library creates files with the umask's mode.
  ::umask(077);
  CLI::App app{"dsmild - the DSMIL node daemon (one binary for every role; docs/configuration.md)"};
  std::string config_path;
  bool check = false;
  app.add_option("-c,--config", config_path, "node configuration (YAML; see docs/configuration.md)")->required();
  app.add_flag("--check", check, "validate the configuration and exit");
  app.set_version_flag("--version", std::string("dsmild ") + dsmil::node::kVersion);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
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
