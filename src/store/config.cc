#include "store/config.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

namespace dsmil::store {

Result<std::string> ReadSecret(const StoresConfig& c, const std::string& relative) {
  std::string dir = c.secrets_dir.empty() ? c.path + "/secrets" : c.secrets_dir;
  std::string path = dir + "/" + relative;
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return Status::NotFound("secret file " + path + " does not exist");
  if (st.st_mode & 077) {
    return Status::FailedPrecondition("secret file " + path + " is readable by group or others (chmod 600 it)");
  }
  std::ifstream f(path, std::ios::binary);
  if (!f) return Status::NotFound("secret file " + path + " cannot be read");
  std::ostringstream ss;
  ss << f.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  if (s.empty()) return Status::FailedPrecondition("secret file " + path + " is empty");
  return s;
}

}  // namespace dsmil::store
