# wharf as a container image that runs the way registry:2 runs: port 5000, storage in the /var/lib/registry
# volume, config from /etc/docker/registry/config.yml (or /etc/distribution/config.yml), REGISTRY_* overrides,
# SIGHUP reloads. See docs/running.md.
#
#   podman build --format docker -t wharf .     (docker build -t wharf .; `--format docker` keeps the HEALTHCHECK,
#                                                which the OCI image format has no field for)
#   podman run -d -p 5000:5000 -v /srv/registry:/var/lib/registry --name reg wharf
#
# BASE_IMAGE is any Debian (or derivative) whose `nodejs` package is Node 20 or later: trixie ships 20.19.
# Dockerfile is a copy of this file, for `docker build .` (a test keeps the two equal): edit both.

ARG BASE_IMAGE=docker.io/library/debian:trixie-slim

# --- build: all dependencies, tsc, then prune to production dependencies -------------------------------------
FROM ${BASE_IMAGE} AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would build before the sources are here; the build is the next step.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.release.json ./
COPY scripts/finish-build.mjs scripts/
COPY src src/
# The commit being built (a build context has no .git): `--build-arg REVISION=$(git rev-parse HEAD)`.
ARG REVISION=
RUN WHARF_REVISION="$REVISION" npm run build:release \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund
COPY packaging/container/prune-node-modules.sh /usr/local/bin/
RUN prune-node-modules.sh /src/node_modules

# --- runtime: Debian's nodejs, tini, the compiled code and production dependencies ---------------------------
FROM ${BASE_IMAGE}
COPY packaging/container/dpkg-slim.cfg /etc/dpkg/dpkg.cfg.d/wharf-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs tini ca-certificates \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/debconf/*-old /var/lib/dpkg/*-old /var/log/apt /var/log/dpkg.log \
 && echo 'wharf:x:5000:5000:wharf registry:/var/lib/registry:/usr/sbin/nologin' >> /etc/passwd \
 && echo 'wharf:x:5000:' >> /etc/group \
 && echo 'wharf:!:1::::::' >> /etc/shadow \
 && mkdir -p /var/lib/registry /etc/docker/registry /etc/distribution /usr/share/wharf \
 && chown wharf:wharf /var/lib/registry
COPY --from=build /src/node_modules /opt/wharf/node_modules/
COPY --from=build /src/dist/version.json /opt/wharf/dist/
COPY --from=build /src/dist/src /opt/wharf/dist/src/
COPY package.json LICENSE /opt/wharf/
COPY packaging/container/config.yml /usr/share/wharf/config.yml
COPY packaging/container/entrypoint.sh /usr/local/bin/wharf-entrypoint
# `wharf` on PATH for `podman exec reg wharf htpasswd ...`; `registry` too, so registry:2's
# `registry garbage-collect /etc/docker/registry/config.yml` keeps working.
RUN chmod 0755 /opt/wharf/dist/src/main.js /usr/local/bin/wharf-entrypoint \
 && ln -s /opt/wharf/dist/src/main.js /usr/local/bin/wharf \
 && ln -s /opt/wharf/dist/src/main.js /usr/local/bin/registry

ENV NODE_ENV=production \
    WHARF_CONFIG_PATHS=/etc/docker/registry/config.yml:/etc/distribution/config.yml:/usr/share/wharf/config.yml
EXPOSE 5000
VOLUME ["/var/lib/registry"]
HEALTHCHECK --interval=30s --timeout=10s --start-period=20s --retries=3 CMD ["node", "/opt/wharf/dist/src/cli/healthcheck.js"]
# The entrypoint fixes the volume's owner, drops root and execs tini as PID 1 (signals, zombies): see the script.
ENTRYPOINT ["/usr/local/bin/wharf-entrypoint"]
CMD ["serve"]

# Labels last: changing one rebuilds no layer above it.
ARG VERSION=0.1.0
ARG REVISION=
ARG SOURCE=
LABEL org.opencontainers.image.title="wharf" \
      org.opencontainers.image.description="A private OCI container image registry, a drop-in for CNCF Distribution (registry:2)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0"
