// Typed config sections for the devices.
//
// A top-level section of the node config that devices read ("soc", "llm",
// "policies", ...) is registered once with a parser into its typed struct:
//
//   devices::RegisterConfigSection<soc::SocConfig>("soc", soc::ParseSocConfig);
//
// The node parses every present registered section once, when it loads its
// config (node/config.cc), so a bad value stops dsmild with the key named
// ("node-a.yaml: soc.batch: must be an integer in 1..10000"). A device declares
// the sections it reads where its factory is registered (device.h):
//
//   RegisterDeviceFactory(59, CreateCoaDevice, {"policies"});
//
// and CreateDevice hands it only those, in DeviceContext::config. The device
// reads one with ctx.Section<T>("policies"): a const T*, null when the node
// config has no such section. Reading a section the device did not declare,
// or as a type other than the registered one, is a programming error: the
// process aborts with a message naming the device, the section and the types.
//
// Registration is not thread-safe: register before the first config parse
// (each device group does it in its RegisterXxxDevices, which
// RegisterBuiltinDevices calls). "policies" is registered here: several
// groups read it. Parsed sections are immutable and shared by every device
// instance that declared them.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <typeindex>
#include <typeinfo>
#include <utility>
#include <vector>

#include "core/status.h"

namespace dsmil::devices {

// The `policies:` section, {dir: ...}: the directory of the tenant policy
// bundles (tenant/policy.h), absolute or resolved against the config
// directory. Read by the SOC L8 devices and the L9 COA engine.
struct PoliciesConfig {
  std::string dir;
};

// Parses a section given as JSON text (a JSON object: the YAML mapping of the
// node config). Relative paths are resolved against `config_dir`. Errors are
// InvalidArgument and start with the key ("soc.batch: ...").
template <class T>
using SectionParser = std::function<Result<T>(const std::string& section_json, const std::string& config_dir)>;

// One section, type-erased: its registered type and the parsed value (null
// when the section is declared but absent from the node config).
struct ConfigSection {
  std::type_index type = typeid(void);
  std::shared_ptr<const void> value;
};

namespace internal {
using ErasedSectionParser =
    std::function<Result<std::shared_ptr<const void>>(const std::string& section_json, const std::string& config_dir)>;
// Aborts when `name` is already registered with another type.
void RegisterConfigSection(std::string name, std::type_index type, ErasedSectionParser parse);
// Prints "dsmil config sections: <message>" to stderr and aborts.
[[noreturn]] void ConfigSectionFatal(const std::string& message);

template <class T>
ErasedSectionParser EraseSectionParser(SectionParser<T> parse) {
  return [parse = std::move(parse)](const std::string& section_json,
                                    const std::string& config_dir) -> Result<std::shared_ptr<const void>> {
    Result<T> parsed = parse(section_json, config_dir);
    if (!parsed.ok()) return parsed.status();
    return std::shared_ptr<const void>(std::make_shared<const T>(std::move(*parsed)));
  };
}
}  // namespace internal

// Registers the parser of section `name` into T. Registering the same name
// again with the same type replaces the parser; with another type aborts.
template <class T>
void RegisterConfigSection(std::string_view name, SectionParser<T> parse) {
  internal::RegisterConfigSection(std::string(name), typeid(T), internal::EraseSectionParser<T>(std::move(parse)));
}

// Whether a parser is registered for `name`.
bool IsConfigSectionRegistered(std::string_view name);

// Parses section `name` with its registered parser. An InvalidArgument error
// starts with the key ("soc.batch: ..."); NotFound when no parser is
// registered for `name`.
Result<ConfigSection> ParseConfigSection(std::string_view name, const std::string& section_json,
                                         const std::string& config_dir);

// A set of typed sections: in NodeConfig, every parsed section; in a
// DeviceContext, exactly the sections the device declared (present or not).
class ConfigSections {
 public:
  // Adds section `name` with `value` (for tests: a typed section handed in
  // by hand). Aborts when `name` is registered with another type.
  template <class T>
  void Put(std::string name, T value) {
    Put(std::move(name), ConfigSection{typeid(T), std::make_shared<const T>(std::move(value))});
  }
  // Adds section `name` as declared but absent (Section<T> gives null).
  template <class T>
  void Declare(std::string name) {
    Put(std::move(name), ConfigSection{typeid(T), nullptr});
  }
  // Adds a parsed section (the type is checked as above).
  void Put(std::string name, ConfigSection section);
  // Parses `section_json` with the registered parser and adds the result
  // (for tests holding the section as JSON text).
  Status PutJson(std::string name, const std::string& section_json, const std::string& config_dir);

  // The sections `names` only: those present here keep their value, the
  // others are declared absent with their registered type. Aborts when a
  // name has no registered parser.
  ConfigSections Select(const std::vector<std::string>& names) const;

  // The value of section `name` as T, or null when it is declared but absent.
  // `device` names the reader in the abort message. Aborts when `name` is not
  // in this set (not declared) or holds another type.
  template <class T>
  const T* Get(std::string_view name, int device) const {
    return static_cast<const T*>(Find(name, typeid(T), device));
  }

  bool declared(std::string_view name) const { return sections_.find(name) != sections_.end(); }
  bool present(std::string_view name) const;
  std::vector<std::string> names() const;

 private:
  const void* Find(std::string_view name, std::type_index type, int device) const;

  std::map<std::string, ConfigSection, std::less<>> sections_;
};

}  // namespace dsmil::devices
