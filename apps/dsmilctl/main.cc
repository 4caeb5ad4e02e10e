// dsmilctl: the DSMIL operator CLI. Command groups live in cmd_*.cc.
#include <cstdlib>
#include <iostream>

#include "commands.h"
#include "node/node.h"

namespace dsmil::ctl {

std::vector<RegisterFn>& CommandGroups() {
  static std::vector<RegisterFn> groups;
  return groups;
}

CLI::App* Group(CLI::App& app, const std::string& name, const std::string& description) {
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    if (sub->get_name() == name) return sub;
  }
  CLI::App* sub = app.add_subcommand(name, description);
  sub->require_subcommand(1);
  return sub;
}

void Fail(Context& ctx, int code, const std::string& msg) {
  std::cerr << "dsmilctl: " << msg << "\n";
  ctx.exit_code = code;
}

}  // namespace dsmil::ctl

int main(int argc, char** argv) {
  using namespace dsmil::ctl;
  CLI::App app{"dsmilctl - DSMIL operator CLI"};
  app.require_subcommand(1);
  Context ctx;
  const char* env = std::getenv("DSMILCTL_CONFIG");
  const char* home = std::getenv("HOME");
  ctx.config_path = env ? env : std::string(home ? home : ".") + "/.config/dsmil/dsmilctl.yaml";
  app.add_option("--config", ctx.config_path, "dsmilctl config file (nodes, operator certificate)");
  app.set_version_flag("--version", std::string("dsmilctl ") + dsmil::node::kVersion);
  for (auto& reg : CommandGroups()) reg(app, ctx);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }
  return ctx.exit_code;
}
