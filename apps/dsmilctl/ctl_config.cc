#include "ctl_config.h"

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace dsmil::ctl {

namespace fs = std::filesystem;

Result<CtlConfig> LoadCtlConfig(const std::string& path) {
  CtlConfig c;
  std::error_code ec;
  if (!fs::exists(path, ec)) return c;
  if (fs::file_size(path, ec) > (1u << 20)) return Status::InvalidArgument(path + ": config over 1 MiB");
  try {
    YAML::Node root = YAML::LoadFile(path);
    if (!root || root.IsNull()) return c;
    if (!root.IsMap()) return Status::InvalidArgument(path + ": must be a mapping");
    if (YAML::Node op = root["operator"]) {
      if (op["cert"]) c.operator_cert = op["cert"].as<std::string>();
      if (op["key"]) c.operator_key = op["key"].as<std::string>();
    }
    if (YAML::Node nodes = root["nodes"]) {
      if (!nodes.IsSequence()) return Status::InvalidArgument(path + ": nodes: must be a list");
      for (size_t i = 0; i < nodes.size(); ++i) {
        CtlNode n;
        if (!nodes[i]["name"] || !nodes[i]["url"]) {
          return Status::InvalidArgument(path + ": nodes[" + std::to_string(i) + "]: needs name and url");
        }
        n.name = nodes[i]["name"].as<std::string>();
        n.url = nodes[i]["url"].as<std::string>();
        if (nodes[i]["cert"]) n.cert = nodes[i]["cert"].as<std::string>();
        c.nodes.push_back(std::move(n));
      }
    }
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(path + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  return c;
}

Status SaveCtlConfig(const std::string& path, const CtlConfig& c) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "operator" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "cert" << YAML::Value << c.operator_cert;
  out << YAML::Key << "key" << YAML::Value << c.operator_key;
  out << YAML::EndMap;
  out << YAML::Key << "nodes" << YAML::Value << YAML::BeginSeq;
  for (const auto& n : c.nodes) {
    out << YAML::BeginMap << YAML::Key << "name" << YAML::Value << n.name << YAML::Key << "url" << YAML::Value << n.url
        << YAML::Key << "cert" << YAML::Value << n.cert << YAML::EndMap;
  }
  out << YAML::EndSeq << YAML::EndMap;
  std::error_code ec;
  fs::path p(path);
  if (p.has_parent_path()) fs::create_directories(p.parent_path(), ec);
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    if (!f) return Status::Unavailable(tmp + ": cannot write");
    f << "# dsmilctl configuration (written by `dsmilctl config ...`)\n" << out.c_str() << "\n";
    if (!f) return Status::Unavailable(tmp + ": write failed");
  }
  fs::rename(tmp, path, ec);
  if (ec) return Status::Unavailable(path + ": " + ec.message());
  return Status::Ok();
}

}  // namespace dsmil::ctl
