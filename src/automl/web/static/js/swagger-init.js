// /docs: starts the vendored Swagger UI (no inline script: the CSP forbids it). The schema's address comes from
// a data attribute; "Try it out" requests that change state carry the session's CSRF token.
"use strict";

(() => {
  const root = document.getElementById("swagger-ui");
  if (!root || typeof SwaggerUIBundle === "undefined") return;
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    validatorUrl: null,  // the default badge would call validator.swagger.io
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset].filter(Boolean),
    requestInterceptor: (req) => {
      Object.assign(req.headers, App.csrfHeaders(req.method));
      return req;
    },
  });
})();
