# syntax=docker/dockerfile:1
# Build: docker build -t meshlb .
# Run:   docker run -p 8080:8080 -p 127.0.0.1:9901:9901 -v $PWD/conf:/etc/meshlb meshlb

FROM python:3.11-slim-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY meshlb ./meshlb
RUN python -m venv /opt/meshlb && /opt/meshlb/bin/pip install --no-cache-dir .

FROM python:3.11-slim-bookworm
RUN useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin meshlb
COPY --from=build /opt/meshlb /opt/meshlb
COPY conf /etc/meshlb
ENV PATH=/opt/meshlb/bin:$PATH PYTHONUNBUFFERED=1
USER meshlb
EXPOSE 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD python -c "import sys,urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:9901/healthz', timeout=2).status == 200 else 1)"
ENTRYPOINT ["meshlb"]
CMD ["run", "-c", "/etc/meshlb/edge.toml"]
