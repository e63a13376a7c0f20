# syntax=docker/dockerfile:1
# One image for netdiag: the operator (default command), the collector agent and the CLI
# (`netdiag`), and the chained CNI plugin (`netdiag-cni-tap`). Built by hack/build-image.sh.

# --- build: compile the TypeScript, then keep only the production dependencies
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
# The whole build input (.dockerignore leaves out node_modules, dist and local state): `npm run
# build` compiles src/ and bench/ (and the test helpers bench/ imports).
COPY . .
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

# --- runtime: node and the Linux networking tools the collector agent runs
FROM node:20-bookworm-slim
RUN apt-get update \
  && apt-get install -y --no-install-recommends iproute2 iptables nftables ipset ipvsadm conntrack \
  && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
  NETDIAG_HOME=/app
WORKDIR /app
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/crds ./crds
COPY --from=build /app/schemas ./schemas
# The commands of package.json's "bin", on PATH.
RUN ln -s /app/dist/src/cli/main.js /usr/local/bin/netdiag \
  && ln -s /app/dist/src/cni-tap/main.js /usr/local/bin/netdiag-cni-tap \
  && chmod 0755 /app/dist/src/cli/main.js /app/dist/src/cni-tap/main.js
# Non-root by default (the operator and the CLI); collector pods set runAsUser 0 themselves, and the
# cni-tap DaemonSet too.
USER 65532:65532
EXPOSE 8080 8081
CMD ["node", "dist/src/main.js"]
