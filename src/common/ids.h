// Identifiers: random (version 4) UUIDs for run ids, namespace ids and request ids.
#pragma once

#include <string>

namespace eon {

std::string NewUuid();

}  // namespace eon
