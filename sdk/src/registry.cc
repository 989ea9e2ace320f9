#include "eon/sdk/registry.h"

namespace eon::sdk {

namespace {
template <typename Map>
std::string Names(const Map& map) {
  std::string out;
  for (const auto& [name, fn] : map) out += (out.empty() ? "" : ", ") + name;
  return out.empty() ? "none" : out;
}
}  // namespace

std::string Registry::workflow_names() const { return Names(workflows_); }
std::string Registry::activity_names() const { return Names(activities_); }

}  // namespace eon::sdk
