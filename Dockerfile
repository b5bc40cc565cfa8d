# The one image behind web, worker and beat (docker-compose.yml).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DJANGO_SETTINGS_MODULE=config.settings.production \
    CRM_VAR_DIR=/var/lib/crm

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
RUN DJANGO_SECRET_KEY=build-only DJANGO_ALLOWED_HOSTS=localhost \
        python manage.py collectstatic --no-input \
    && useradd --system --uid 10001 --home-dir /var/lib/crm --create-home crm \
    && chown -R crm:crm /var/lib/crm

USER crm
EXPOSE 8000
# Workers, threads, keep-alive and timeouts: config/gunicorn.conf.py (WEB_CONCURRENCY,
# GUNICORN_THREADS, GUNICORN_KEEPALIVE... in the environment change them).
CMD ["gunicorn", "-c", "config/gunicorn.conf.py", "--bind", "0.0.0.0:8000", \
     "config.wsgi:application"]
