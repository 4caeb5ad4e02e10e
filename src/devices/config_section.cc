#include "devices/config_section.h"

#include <cxxabi.h>

#include <cstdio>
#include <cstdlib>

#include "tenant/policy.h"

namespace dsmil::devices {
namespace {

struct Registered {
  std::type_index type;
  internal::ErasedSectionParser parse;
};

using RegistryMap = std::map<std::string, Registered, std::less<>>;

Result<PoliciesConfig> ParsePoliciesConfig(const std::string& section_json, const std::string& config_dir) {
  DSMIL_ASSIGN_OR_RETURN(std::string dir, tenant::PolicyDirFromSection(section_json, config_dir));
  return PoliciesConfig{std::move(dir)};
}

RegistryMap& Registry() {
  static RegistryMap registry = [] {
    RegistryMap r;
    // Shared by several device groups (SOC L8, L9 COA, L7 router).
    r.emplace("policies",
              Registered{typeid(PoliciesConfig), internal::EraseSectionParser<PoliciesConfig>(ParsePoliciesConfig)});
    return r;
  }();
  return registry;
}

std::string TypeName(std::type_index t) {
  int status = 0;
  char* d = abi::__cxa_demangle(t.name(), nullptr, nullptr, &status);
  std::string out = status == 0 && d ? d : t.name();
  std::free(d);
  return out;
}

const Registered* Lookup(std::string_view name) {
  auto it = Registry().find(name);
  return it == Registry().end() ? nullptr : &it->second;
}

}  // namespace

namespace internal {

void ConfigSectionFatal(const std::string& message) {
  std::fprintf(stderr, "dsmil config sections: %s\n", message.c_str());
  std::fflush(stderr);
  std::abort();
}

void RegisterConfigSection(std::string name, std::type_index type, ErasedSectionParser parse) {
  if (const Registered* r = Lookup(name); r && r->type != type) {
    ConfigSectionFatal("section '" + name + "' is registered as " + TypeName(r->type) + ", not " + TypeName(type));
  }
  Registry().insert_or_assign(std::move(name), Registered{type, std::move(parse)});
}

}  // namespace internal

bool IsConfigSectionRegistered(std::string_view name) { return Lookup(name) != nullptr; }

Result<ConfigSection> ParseConfigSection(std::string_view name, const std::string& section_json,
                                         const std::string& config_dir) {
  const Registered* r = Lookup(name);
  if (!r) return Status::NotFound("no parser registered for config section '" + std::string(name) + "'");
  auto value = r->parse(section_json, config_dir);
  if (!value.ok()) {
    Status error = value.status();
    const std::string& m = error.message();
    // Every error names the key; a parser's message that does not start with
    // the section name gets it in front.
    bool named = m.compare(0, name.size(), name) == 0 &&
                 (m.size() == name.size() || m[name.size()] == '.' || m[name.size()] == ':' || m[name.size()] == '[');
    return named ? error : error.WithContext(name);
  }
  return ConfigSection{r->type, std::move(*value)};
}

void ConfigSections::Put(std::string name, ConfigSection section) {
  if (const Registered* r = Lookup(name); r && r->type != section.type) {
    internal::ConfigSectionFatal("section '" + name + "' is registered as " + TypeName(r->type) + ", not " +
                                 TypeName(section.type));
  }
  sections_.insert_or_assign(std::move(name), std::move(section));
}

Status ConfigSections::PutJson(std::string name, const std::string& section_json, const std::string& config_dir) {
  DSMIL_ASSIGN_OR_RETURN(ConfigSection s, ParseConfigSection(name, section_json, config_dir));
  Put(std::move(name), std::move(s));
  return Status::Ok();
}

ConfigSections ConfigSections::Select(const std::vector<std::string>& names) const {
  ConfigSections out;
  for (const auto& n : names) {
    if (auto it = sections_.find(n); it != sections_.end()) {
      out.Put(n, it->second);
      continue;
    }
    const Registered* r = Lookup(n);
    if (!r) internal::ConfigSectionFatal("section '" + n + "' is declared by a device but has no registered parser");
    out.Put(n, ConfigSection{r->type, nullptr});
  }
  return out;
}

bool ConfigSections::present(std::string_view name) const {
  auto it = sections_.find(name);
  return it != sections_.end() && it->second.value != nullptr;
}

std::vector<std::string> ConfigSections::names() const {
  std::vector<std::string> out;
  for (const auto& [n, s] : sections_) out.push_back(n);
  return out;
}

const void* ConfigSections::Find(std::string_view name, std::type_index type, int device) const {
  auto it = sections_.find(name);
  if (it == sections_.end()) {
    internal::ConfigSectionFatal("device " + std::to_string(device) + " reads config section '" + std::string(name) +
                                 "' that it did not declare (declare it where its factory is registered: "
                                 "RegisterDeviceFactory(id, factory, {\"" +
                                 std::string(name) + "\", ...}))");
  }
  if (it->second.type != type) {
    internal::ConfigSectionFatal("device " + std::to_string(device) + " reads config section '" + std::string(name) +
                                 "' as " + TypeName(type) + ", but it holds " + TypeName(it->second.type));
  }
  return it->second.value.get();
}

}  // namespace dsmil::devices
