// dsmilctl cockpit: the kitty multi-node cockpit (spec §8.2, docs/cockpit.md).
//
//   dsmilctl cockpit [--print | --print-keys] [--interval 5] [--l7-url URL]
//                    [--l7-profile llm-7b-amx] [--grafana-url URL] [--cwd DIR] [--dir DIR] [--kitty PATH]
//                    [--template FILE] [-- KITTY_ARGS...]
//
// Fills in the placeholders of the session and hotkey templates of
// deploy/kitty/ (built into the binary; --template reads another session),
// writes both to --dir and replaces itself with
//   kitty [--config ~/.config/kitty/kitty.conf] --config DIR/dsmil-kitty.conf
//         --session DIR/dsmil.session KITTY_ARGS...
// --print / --print-keys write the filled-in session / hotkeys to stdout and
// start nothing. Exit 1 when kitty is not installed or there is no display,
// 2 for bad input.
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "cockpit_templates.h"
#include "commands.h"
#include "file_util.h"

namespace dsmil::ctl {
namespace {

struct CockpitArgs {
  bool print = false, print_keys = false;
  int interval = 5;
  std::string l7_url = "http://127.0.0.1:8001";
  std::string l7_profile = "llm-7b-amx";
  std::string grafana_url = "http://grafana.dsmil.local:3000";
  std::string cwd, dir, kitty, template_file;
  std::vector<std::string> kitty_args;
};

// One word for kitty's session and config parser (POSIX shell quoting rules):
// left bare when it is safe, else single-quoted.
std::string Quote(const std::string& s) {
  bool bare = !s.empty();
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || std::strchr("/._-+:=,@%", c))) bare = false;
  }
  if (bare) return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

void ReplaceAll(std::string& text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
}

std::string SelfPath() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("dsmilctl") : p.string();
}

std::string Absolute(const std::string& path) { return std::filesystem::absolute(path).lexically_normal().string(); }

std::string Resolve(std::string text, const CockpitArgs& a, const Context& ctx) {
  ReplaceAll(text, "@DSMILCTL@", Quote(SelfPath()) + " --config " + Quote(Absolute(ctx.config_path)));
  std::error_code ec;
  const std::string cwd = a.cwd.empty() ? std::filesystem::current_path(ec).string() : Absolute(a.cwd);
  ReplaceAll(text, "@CWD@", Quote(cwd.empty() ? "/" : cwd));
  ReplaceAll(text, "@INTERVAL@", std::to_string(a.interval));
  ReplaceAll(text, "@L7_URL@", Quote(a.l7_url));
  ReplaceAll(text, "@L7_PROFILE@", Quote(a.l7_profile));
  ReplaceAll(text, "@GRAFANA_URL@", a.grafana_url);
  return text;
}

// The executable `name` on $PATH (or `name` itself when it has a slash), or "".
std::string FindExecutable(const std::string& name) {
  if (name.find('/') != std::string::npos) return ::access(name.c_str(), X_OK) == 0 ? name : "";
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string d = dirs.substr(start, end - start);
    std::string candidate = (d.empty() ? "." : d) + "/" + name;
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
    start = end + 1;
  }
  return "";
}

// Where the resolved files go: $XDG_RUNTIME_DIR/dsmil-cockpit, else
// ${TMPDIR:-/tmp}/dsmil-cockpit-UID.
std::string DefaultDir() {
  if (const char* run = std::getenv("XDG_RUNTIME_DIR"); run && *run) return std::string(run) + "/dsmil-cockpit";
  const char* tmp = std::getenv("TMPDIR");
  return std::string(tmp && *tmp ? tmp : "/tmp") + "/dsmil-cockpit-" + std::to_string(::getuid());
}

Status WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return Status::Internal("cannot write " + path);
  out << text;
  out.close();
  if (!out) return Status::Internal("cannot write " + path);
  return Status::Ok();
}

// The operator's own kitty.conf, loaded before the hotkeys, when there is one.
std::string UserKittyConf() {
  std::string dir;
  if (const char* d = std::getenv("KITTY_CONFIG_DIRECTORY"); d && *d) {
    dir = d;
  } else if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x) {
    dir = std::string(x) + "/kitty";
  } else if (const char* h = std::getenv("HOME"); h && *h) {
    dir = std::string(h) + "/.config/kitty";
  }
  std::string conf = dir.empty() ? "" : dir + "/kitty.conf";
  return !conf.empty() && Exists(conf) ? conf : "";
}

void Run(Context& ctx, const CockpitArgs& a) {
  std::string session_template(kCockpitSession);
  if (!a.template_file.empty()) {
    auto text = ReadText(a.template_file);
    if (!text.ok()) return Fail(ctx, 2, "cockpit: --template: " + text.status().message());
    session_template = *text;
  }
  const std::string session = Resolve(session_template, a, ctx);
  const std::string keys = Resolve(std::string(kCockpitKeys), a, ctx);
  if (a.print || a.print_keys) {
    std::cout << (a.print ? session : keys) << std::flush;
    return;
  }
  const std::string kitty = FindExecutable(a.kitty.empty() ? "kitty" : a.kitty);
  if (kitty.empty()) {
    return Fail(ctx, 1,
                "cockpit: kitty not found" + (a.kitty.empty() ? std::string(" on $PATH") : ": " + a.kitty) +
                    " (Debian: apt-get install kitty); `dsmilctl cockpit --print` writes the session file");
  }
  const char* x11 = std::getenv("DISPLAY");
  const char* wayland = std::getenv("WAYLAND_DISPLAY");
  if (!(x11 && *x11) && !(wayland && *wayland)) {
    return Fail(ctx, 1,
                "cockpit: no display: neither DISPLAY nor WAYLAND_DISPLAY is set (run it in a graphical session, "
                "over ssh -X, or under xvfb-run); `dsmilctl cockpit --print` writes the session file");
  }
  const std::string dir = Absolute(a.dir.empty() ? DefaultDir() : a.dir);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Fail(ctx, 2, "cockpit: cannot create " + dir + ": " + ec.message());
  ::chmod(dir.c_str(), 0700);
  const std::string session_path = dir + "/dsmil.session", keys_path = dir + "/dsmil-kitty.conf";
  for (const auto& [path, text] : {std::pair{session_path, session}, std::pair{keys_path, keys}}) {
    if (Status s = WriteFile(path, text); !s.ok()) return Fail(ctx, 2, "cockpit: " + s.message());
  }
  std::vector<std::string> argv{kitty};
  if (std::string user = UserKittyConf(); !user.empty()) argv.insert(argv.end(), {"--config", user});
  argv.insert(argv.end(), {"--config", keys_path, "--session", session_path});
  argv.insert(argv.end(), a.kitty_args.begin(), a.kitty_args.end());
  std::vector<char*> cargv;
  cargv.reserve(argv.size() + 1);
  for (auto& s : argv) cargv.push_back(s.data());
  cargv.push_back(nullptr);
  std::cout.flush();
  ::execv(kitty.c_str(), cargv.data());
  Fail(ctx, 1, "cockpit: cannot run " + kitty + ": " + std::strerror(errno));
}

const CommandGroup kCockpitGroup([](CLI::App& app, Context& ctx) {
  auto a = std::make_shared<CockpitArgs>();
  CLI::App* c = app.add_subcommand("cockpit", "The kitty multi-node cockpit: status, SOC, logs and L7 windows");
  auto* print = c->add_flag("--print", a->print, "Write the resolved kitty session to stdout and start nothing");
  c->add_flag("--print-keys", a->print_keys, "Write the resolved hotkey fragment (kitty.conf) to stdout")
      ->excludes(print);
  c->add_option("--interval", a->interval, "Seconds between redraws of the status and SOC views")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  c->add_option("--l7-url", a->l7_url, "NODE-B's L7 API, for the L7 test window and hotkey")->capture_default_str();
  c->add_option("--l7-profile", a->l7_profile, "L7 profile (model) of the L7 test window and hotkey")
      ->capture_default_str();
  c->add_option("--grafana-url", a->grafana_url, "Grafana, for ctrl+shift+g")->capture_default_str();
  c->add_option("--cwd", a->cwd, "Working directory of the windows (default: the current one)");
  c->add_option("--dir", a->dir, "Where the resolved files go (default $XDG_RUNTIME_DIR/dsmil-cockpit)");
  c->add_option("--kitty", a->kitty, "The kitty binary (default: kitty on $PATH)");
  c->add_option("--template", a->template_file, "A session template to use instead of the built-in one");
  c->add_option("kitty_args", a->kitty_args, "Arguments for kitty, after --");
  c->callback([a, &ctx] { Run(ctx, *a); });
});

}  // namespace
}  // namespace dsmil::ctl
