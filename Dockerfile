# authsvc container image: slim, non-root, works with a read-only root filesystem.
#   docker build -t authsvc .
#   docker run -e AUTHORIZER_URL=https://auth.example.com -p 8080:8080 --read-only authsvc

# Build authsvc's own wheel in a throw-away stage so the runtime image carries no build tools.
# Its dependencies are not built here: they come from requirements.lock, hash-checked.
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY authsvc ./authsvc
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim-bookworm
# A fixed numeric UID, so Kubernetes' runAsNonRoot can check it without a passwd lookup.
RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin authsvc
# Every dependency, transitive ones included, at the exact version and file hashes in
# requirements.lock (pip refuses anything else); then authsvc itself, which adds none.
COPY requirements.lock /tmp/requirements.lock
RUN pip install --no-cache-dir --require-hashes -r /tmp/requirements.lock \
    && rm /tmp/requirements.lock
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-deps /wheels/*.whl && rm -rf /wheels

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    AUTHSVC_BIND=0.0.0.0:8080
USER 10001:10001
EXPOSE 8080

# /healthz answers while the process is up; it never calls Authorizer. If you change
# AUTHSVC_BIND's port, change it here too.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"]

ENTRYPOINT ["authsvc"]
