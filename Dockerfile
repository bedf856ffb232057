# One image for every service; SERVICE selects which one runs (customer, interaction,
# complaint, scoring). Used by docker-compose.yml and deploy/k8s.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml constraints.txt ./
COPY shared ./shared
COPY services ./services
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir -c constraints.txt .

FROM python:3.11-slim
ARG SERVICE=customer
ENV SERVICE=${SERVICE} PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 CRM_HTTP_HOST=0.0.0.0
COPY --from=build /opt/venv /opt/venv
RUN useradd --uid 10001 --no-create-home crm
USER 10001
EXPOSE 8000
CMD ["sh", "-c", "exec python -m services.${SERVICE}"]
