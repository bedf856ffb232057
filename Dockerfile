# One image for every service. What runs is chosen by SERVICE (customer, interaction,
# complaint, scoring, scorer) or by an explicit command, which is what deploy/k8s does:
#   python -m services.customer                    (and interaction, complaint, scoring)
#   python -m services.scoring.worker worker -l info   (the streaming scorer, Faust)
#   python -m shared.topics_admin create           (one-shot topic creation)
# Used by docker-compose.yml (`build: .`) and deploy/k8s (image `customer-signals`).
# Runs as uid 10001 with nothing to write but /tmp, so it works under a read-only root file
# system (deploy/k8s mounts an emptyDir there).

# The web console's browser libraries (htmx, ECharts) at the versions of its package-lock.json:
# served by the customer service itself, never from a CDN.
FROM node:20-slim AS console-assets
WORKDIR /assets
COPY services/customer/console/assets/package.json services/customer/console/assets/package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund \
 && mkdir /vendor \
 && cp node_modules/htmx.org/dist/htmx.min.js node_modules/echarts/dist/echarts.min.js /vendor/

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml constraints.txt ./
COPY shared ./shared
COPY services ./services
COPY --from=console-assets /vendor ./services/customer/console/static/vendor
# Exact versions of everything, transitive dependencies included, from constraints.txt.
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install -c constraints.txt . \
 && /opt/venv/bin/python -m compileall -q /opt/venv

FROM python:3.11-slim AS runtime
ARG SERVICE=customer
ENV SERVICE=${SERVICE} \
    PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CRM_HTTP_HOST=0.0.0.0 \
    CRM_HTTP_PORT=8000
RUN useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin crm \
 && mkdir /app
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
USER 10001:10001
EXPOSE 8000 6066
# For docker run/compose (Kubernetes ignores it and uses the probes in deploy/k8s): the HTTP
# APIs and the scorer answer /healthz (the scorer on its Faust web port).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 CMD ["python", "-c", "import os, urllib.request; scorer = os.environ.get('SERVICE') == 'scorer'; port = os.environ.get('CRM_FAUST_WEB_PORT', '6066') if scorer else os.environ.get('CRM_HTTP_PORT', '8000'); urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4)"]
CMD ["sh", "-c", "if [ \"$SERVICE\" = scorer ]; then exec python -m services.scoring.worker worker -l info; else exec python -m \"services.$SERVICE\"; fi"]
