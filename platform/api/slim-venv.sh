#!/bin/sh
# Shrink the API's virtualenv before it is copied into the final stage:
# - the installer (pip, setuptools) and the test suites wheels ship are not run in production;
# - extension modules lose their debugging symbols (strip --strip-unneeded keeps what the
#   dynamic linker needs); source maps and the Swagger UI bundles /docs does not load go;
# - third-party modules keep only their bytecode: `compileall -b` writes each module's .pyc
#   beside its source, then the sources and __pycache__ copies go (imports stay precompiled,
#   the files are not duplicated). The service's own package keeps its sources.
set -eu
venv="$1"
"$venv/bin/pip" uninstall --yes --quiet pip setuptools
site="$(find "$venv/lib" -maxdepth 2 -type d -name site-packages)"
find "$site" -depth -type d -name tests -exec rm -rf {} +
find "$site" -type f \( -name '*.pyi' -o -name '*.pxd' -o -name '*.pyx' -o -name '*.map' \) -delete
find "$site/swagger_ui_bundle" -type f \( -name 'swagger-ui-es-bundle*' -o -name 'swagger-ui.js' \
  -o -name 'swagger-ui-standalone-preset.js' \) -delete
# Not the libraries auditwheel vendored into *.libs: patched ELF files that strip breaks.
find "$site" -type f -name '*.so*' ! -path '*.libs/*' -exec strip --strip-unneeded {} +
find "$site" -type d -name __pycache__ ! -path "$site/mlship/*" -prune -exec rm -rf {} +
"$venv/bin/python" -m compileall -q -b -j 0 -x "^$site/mlship/" "$site" >/dev/null
find "$site" -type f -name '*.py' ! -path "$site/mlship/*" -exec sh -c '
  for source; do
    if [ -f "${source}c" ]; then rm "$source"; fi
  done' sh {} +
