# The `web` image of docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# Static files are baked into the image; WhiteNoise serves them.
ENV DJANGO_STATIC_ROOT=/app/staticfiles
RUN DJANGO_SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput --verbosity 0 \
    && useradd --create-home --uid 10001 app \
    && mkdir -p var \
    && chown app var
USER app

EXPOSE 8000
# gunicorn.conf.py: threads in one worker process, which an embedded store (no QDRANT_URL)
# requires; with a Qdrant server, WEB_CONCURRENCY runs more processes.
ENV WEB_BIND=0.0.0.0:8000
CMD ["gunicorn"]
