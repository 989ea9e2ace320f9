// ui: the web UI's files, built at build time from src/ui/web (pinned npm packages, bundled by
// esbuild) and compiled into the binary by src/ui/embed.js, so `eon` needs nothing else at run
// time. The pages speak only the HTTP API (frontend/http_api.h).
#pragma once

#include <string_view>

namespace eon::ui {

struct Asset {
  std::string_view path;          // e.g. "/assets/app.js"
  std::string_view content_type;  // e.g. "text/javascript; charset=utf-8"
  std::string_view body;
};

// The file served at `path`, or null when there is none. "/index.html" is the page every UI
// route (/namespaces/...) answers with; the browser app routes from there.
const Asset* FindAsset(std::string_view path);

}  // namespace eon::ui
