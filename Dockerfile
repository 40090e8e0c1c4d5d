# fedi-forum: the same steps as the README's quick start, as a non-root service.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    FEDI_FORUM_DATA_DIR=/var/lib/fedi-forum/data \
    FEDI_FORUM_KEYS_DIR=/var/lib/fedi-forum/keys

RUN useradd --system --uid 10001 --home-dir /var/lib/fedi-forum fedi \
 && mkdir -p /var/lib/fedi-forum/data /var/lib/fedi-forum/keys \
 && chown -R fedi /var/lib/fedi-forum \
 && chmod 700 /var/lib/fedi-forum/keys

WORKDIR /app
COPY pyproject.toml constraints.txt README.md LICENSE ./
COPY fedi_forum ./fedi_forum
RUN pip install --no-cache-dir -c constraints.txt .

USER fedi
VOLUME ["/var/lib/fedi-forum/data", "/var/lib/fedi-forum/keys"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4)"

# Set FEDI_FORUM_BASE_URL to the public https:// URL (without it, serving on 0.0.0.0 is
# refused); TLS ends at the proxy in front, whose address or network goes in
# FEDI_FORUM_TRUSTED_PROXIES (e.g. 172.18.0.0/16 for a compose network) so that
# per-visitor limits see visitors and not the proxy.
CMD ["fedi-forum", "serve", "--host", "0.0.0.0", "--port", "8000", "--proxy-headers"]
