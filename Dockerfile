# incidentd: build a wheel, then a slim runtime image without compilers, running as non-root.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY incidentd ./incidentd
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    INCIDENTD_HOST=0.0.0.0 \
    INCIDENTD_PORT=8080 \
    INCIDENTD_CONFIG_DIR=/etc/incidentd
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels \
    && useradd --system --uid 10001 --no-create-home incidentd
COPY config/example/ /etc/incidentd/
USER incidentd
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=5s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status != 200)"]
ENTRYPOINT ["incidentd"]
CMD ["serve", "--config", "/etc/incidentd"]
