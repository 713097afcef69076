# smkit: a SageMaker-compatible inference (and training) image. See docs/images.md.
#
#   docker build -t smkit:cpu .                       # CPU image (the default, last stage)
#   docker build --target gpu -t smkit:gpu .          # GPU image (CUDA 12 + cuDNN 9; needs network)
#   smkit build [--variant cpu|gpu] [--model DIR]     # the same, plus an optional baked-in model
#
# Build arguments:
#   NODE_IMAGE  Node base: a maintained LTS line, 22 (default) or 24; onnxruntime-node 1.30 (N-API) and
#               sharp 0.35 run on both (Node 20 still works but is past its end of life)
#   CUDA_IMAGE  GPU runtime base (CUDA 12.x + cuDNN 9.x, what onnxruntime-node 1.30's CUDA EP needs)
#   TFJS_NODE   auto | require | skip: the optional @tensorflow/tfjs-node binding downloads
#               libtensorflow while installing. auto: keep it when the download works, else drop it
#               (TF.js then runs on its wasm/cpu backends); require: fail the build without it;
#               skip: never install it (smaller image). Any other value fails the build.
#   VERSION, REVISION  recorded in the OCI labels.
ARG NODE_IMAGE=docker.io/library/node:22-bookworm-slim
ARG CUDA_IMAGE=docker.io/nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04

# ---- production dependencies -------------------------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
ARG TFJS_NODE=auto
# No dependency install script runs except tfjs-node's, under TFJS_NODE's control: onnxruntime-node's
# only downloads the CUDA libraries (the deps-gpu stage runs it), protobufjs's only makes a folder
# for its CLI, and sharp 0.35 has none (its prebuilt libvips comes as @img/* packages).
# onnxruntime-node ships binaries for every platform: keep only this one's (about 200 MB less).
# Source maps and TF.js browser bundles are never loaded by Node (about 240 MB less): Node loads
# each @tensorflow package's `main`, the self-contained dist/*.node.js. Nor are protobufjs 6's CLI
# (pbjs/pbts and their own node_modules, 17 MB) or, where sharp's native binding for this platform
# is installed, its WebAssembly fallback (@img/sharp-wasm32, 9 MB), which sharp loads only without one.
RUN case "$TFJS_NODE" in auto | require | skip) ;; *) echo "TFJS_NODE=$TFJS_NODE: expected auto, require or skip" >&2; exit 1 ;; esac \
 && npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && if [ -d node_modules/@tensorflow/tfjs-node ]; then \
      case "$TFJS_NODE" in \
        skip) rm -rf node_modules/@tensorflow/tfjs-node ;; \
        require) npm rebuild @tensorflow/tfjs-node ;; \
        *) npm rebuild @tensorflow/tfjs-node \
             || { echo "WARNING: @tensorflow/tfjs-node could not be installed (no network?); TF.js will use its wasm/cpu backends" >&2; \
                  rm -rf node_modules/@tensorflow/tfjs-node; } ;; \
      esac; \
    elif [ "$TFJS_NODE" = require ]; then echo "TFJS_NODE=require but @tensorflow/tfjs-node is not in the lockfile" >&2; exit 1; fi \
 && keep="$(node -p 'process.platform + "/" + process.arch')" \
 && for d in node_modules/onnxruntime-node/bin/napi-v6/*/*; do \
      case "$d" in */"$keep") ;; *) rm -rf "$d" ;; esac; \
    done \
 && rm -rf node_modules/protobufjs/cli \
 && if [ -d "node_modules/@img/sharp-$(node -p 'process.platform + "-" + process.arch')" ]; then rm -rf node_modules/@img/sharp-wasm32; fi \
 && find node_modules -type f -name '*.map' -delete \
 && for f in node_modules/@tensorflow/*/dist/*.node.js; do rm -f "${f%.node.js}.js"; done \
 && find node_modules/@tensorflow/*/dist -maxdepth 1 -type f \
      \( -name '*.min.js' -o -name '*.es2017.js' -o -name '*.fesm.js' -o -name '*externs.js' \) -delete \
 && rm -rf node_modules/@tensorflow/*/dist/miniprogram \
 && { npm cache clean --force >/dev/null 2>&1 || true; } \
 && rm -rf /root/.npm /tmp/*

# ---- compile -----------------------------------------------------------------------------------
# `smkit build` from an installed npm package (which has no sources) builds with this stage's body
# replaced by a copy of the package's compiled dist/src (src/build/package-context.ts).
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc tsconfig.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY src ./src
COPY assembly ./assembly
RUN npx tsc -p tsconfig.json \
 && npm run build:wasm \
 && find dist -name '*.test.*' -delete

# ---- GPU dependencies: onnxruntime-node's CUDA (and TensorRT) execution provider libraries -----
FROM deps AS deps-gpu
# Runs onnxruntime-node's own installer, which downloads Microsoft.ML.OnnxRuntime.Gpu.Linux from
# nuget.org (package.json's allowScripts keeps npm from running it anywhere else).
# Only linux/x64 has onnxruntime-node's CUDA provider: say so on another platform (an arm64 machine
# builds for arm64 by default), not "Invalid installation: cuda12 for platform: linux/arm64".
RUN platform="$(node -p 'process.platform + "/" + process.arch')" \
 && if [ "$platform" != linux/x64 ]; then echo "the GPU image is built for linux/amd64 only (onnxruntime-node ships its CUDA execution provider for linux/x64 only; this build is for $platform): build with --platform linux/amd64" >&2; exit 1; fi \
 && cd node_modules/onnxruntime-node && ONNXRUNTIME_NODE_INSTALL=cuda12 node script/install && cd /app \
 && ls node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so \
 && rm -rf /root/.npm /tmp/*

# ---- GPU image (not built on the development machines: no CUDA base image, no network) --------
FROM ${NODE_IMAGE} AS node-dist
FROM ${CUDA_IMAGE} AS gpu
# tini (Ubuntu's universe): docker/entrypoint.sh runs smkit under it when it is PID 1, to reap the processes that user code
# leaves behind (an orphan is handed to PID 1, and Node never waits for one that is not its own child).
RUN apt-get update && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log \
 && tini --version
# Node (and npm, which code/package.json installs at start-up need) from the official image.
COPY --from=node-dist /usr/local/bin/node /usr/local/bin/node
COPY --from=node-dist /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/npm
WORKDIR /app
ENV NODE_ENV=production \
    SMKIT_BAKED_MODEL_DIR=/opt/smkit/model \
    SMKIT_IMAGE_VARIANT=gpu \
    SMKIT_DEVICE=auto \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
COPY --from=deps-gpu /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY package.json ./
COPY bin ./bin
COPY docker/entrypoint.sh /usr/local/bin/smkit-entrypoint
RUN chmod 755 /usr/local/bin/smkit-entrypoint /app/bin/smkit.js \
 && ln -s /app/bin/smkit.js /usr/local/bin/smkit \
 && ln -s smkit-entrypoint /usr/local/bin/serve \
 && ln -s smkit-entrypoint /usr/local/bin/train \
 && ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && mkdir -p /opt/smkit/model \
 && node --version && npm --version
# Node 22.1+ reuses V8's compiled code from this directory (NODE_COMPILE_CACHE): a warm cache,
# made by serving the example model once here, takes much of the CPU out of each cold start.
ENV NODE_COMPILE_CACHE=/opt/smkit/compile-cache
COPY docker/warm-compile-cache.mjs /tmp/warm/
COPY models/iris-onnx /tmp/warm/model
RUN node /tmp/warm/warm-compile-cache.mjs /tmp/warm/model && rm -rf /tmp/warm
ARG VERSION=dev
ARG REVISION=unknown
# No multi-models label here: SageMaker supports GPU multi-model endpoints only for Triton-based
# containers (https://docs.aws.amazon.com/sagemaker/latest/dg/mms-container-apis.html); the CPU image carries it.
LABEL com.amazonaws.sagemaker.capabilities.accept-bind-to-port="true" \
      com.amazonaws.sagemaker.capabilities.bidirectional-streaming="true" \
      org.opencontainers.image.title="smkit-gpu" \
      org.opencontainers.image.description="SageMaker-compatible inference container (ONNX Runtime CUDA EP, TensorFlow.js)" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      dev.smkit.variant="gpu"
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/smkit-entrypoint"]
CMD ["serve"]

# ---- CPU image (default) -----------------------------------------------------------------------
FROM ${NODE_IMAGE} AS cpu
# tini: docker/entrypoint.sh runs smkit under it when it is PID 1, to reap the processes that user code
# leaves behind (an orphan is handed to PID 1, and Node never waits for one that is not its own child).
RUN apt-get update && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log \
 && tini --version
WORKDIR /app
ENV NODE_ENV=production \
    SMKIT_BAKED_MODEL_DIR=/opt/smkit/model \
    SMKIT_IMAGE_VARIANT=cpu
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY package.json ./
COPY bin ./bin
COPY docker/entrypoint.sh /usr/local/bin/smkit-entrypoint
RUN chmod 755 /usr/local/bin/smkit-entrypoint /app/bin/smkit.js \
 && ln -s /app/bin/smkit.js /usr/local/bin/smkit \
 && ln -s smkit-entrypoint /usr/local/bin/serve \
 && ln -s smkit-entrypoint /usr/local/bin/train \
 && mkdir -p /opt/smkit/model
# Node 22.1+ reuses V8's compiled code from this directory (NODE_COMPILE_CACHE): a warm cache,
# made by serving the example model once here, takes much of the CPU out of each cold start.
ENV NODE_COMPILE_CACHE=/opt/smkit/compile-cache
COPY docker/warm-compile-cache.mjs /tmp/warm/
COPY models/iris-onnx /tmp/warm/model
RUN node /tmp/warm/warm-compile-cache.mjs /tmp/warm/model && rm -rf /tmp/warm
ARG VERSION=dev
ARG REVISION=unknown
LABEL com.amazonaws.sagemaker.capabilities.accept-bind-to-port="true" \
      com.amazonaws.sagemaker.capabilities.multi-models="true" \
      com.amazonaws.sagemaker.capabilities.bidirectional-streaming="true" \
      org.opencontainers.image.title="smkit" \
      org.opencontainers.image.description="SageMaker-compatible inference container (ONNX Runtime, TensorFlow.js)" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      dev.smkit.variant="cpu"
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/smkit-entrypoint"]
CMD ["serve"]
