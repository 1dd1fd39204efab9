# Multi-stage build of the ledger service (Debian-based Node 20 image, non-root user).
# Not built on our build machines (no Docker engine there); see README "Docker".
FROM node:20-bookworm-slim AS build
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY projections ./projections
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
# Everything the service writes is under /data (the volume), the one place the node user may write:
# the read models and the API keys file (`docker compose exec ledger node dist/src/cli/ledger.js keys create ...`).
ENV NODE_ENV=production HOST=0.0.0.0 PORT=3000 LEDGER_SQLITE_PATH=/data/ledger.sqlite LEDGER_KEYS_PATH=/data/keys.json
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY policy ./policy
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 3000
# Liveness (/healthz never touches the store); Node 20's own fetch, the slim image has no curl.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=5 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "dist/src/server.js"]
