#!/bin/sh
# Removes from a production node_modules what is never loaded at run time: type declarations, source maps,
# TypeScript sources, documentation and the packages' own tests. Licence files stay.
set -eu
cd "${1:?usage: prune-node-modules.sh <node_modules>}"
find . -type f \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.map' -o -name '*.ts' \
  -o -iname 'readme*' -o -iname 'changelog*' -o -iname 'history.md' -o -name '*.markdown' -o -name '.npmignore' \
  -o -name '.eslintrc*' -o -name '.prettierrc*' -o -name 'tsconfig*.json' -o -name '.travis.yml' \) -delete
find . -depth -type d \( -name 'dist-types' -o -name 'test' -o -name 'tests' -o -name '__tests__' -o -name 'docs' \
  -o -name 'example' -o -name 'examples' -o -name '.github' \) -exec rm -rf {} +
# The lockfile copy npm keeps inside node_modules describes the pruned tree no more.
rm -f .package-lock.json
# Scopes emptied by `npm prune` (e.g. @types) and directories emptied above.
find . -depth -type d -empty -delete
