// dsmilctl command groups. Each cmd_*.cc file registers its subcommands on the
// root CLI11 app through a static CommandGroup object, so a group is added by
// adding a file.
//
// Exit status convention (all commands): 0 success / healthy / valid,
// 1 a negative answer (degraded, down, signature invalid), 2 usage or bad input.
// A command's callback stores its status in ctx.exit_code; CLI11 parse errors
// give 2. Errors go to stderr as "dsmilctl: <what is wrong>".
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

namespace dsmil::ctl {

struct Context {
  int exit_code = 0;
  std::string config_path;  // --config, default $DSMILCTL_CONFIG or ~/.config/dsmil/dsmilctl.yaml
};

using RegisterFn = std::function<void(CLI::App& app, Context& ctx)>;

std::vector<RegisterFn>& CommandGroups();

struct CommandGroup {
  explicit CommandGroup(RegisterFn fn) { CommandGroups().push_back(std::move(fn)); }
};

// The subcommand `name` of `app`, created with `description` when absent, so
// several files can add commands to one group ("tenant", "llm", ...).
CLI::App* Group(CLI::App& app, const std::string& name, const std::string& description);

// Prints "dsmilctl: msg" to stderr and sets ctx.exit_code = code.
void Fail(Context& ctx, int code, const std::string& msg);

}  // namespace dsmil::ctl
