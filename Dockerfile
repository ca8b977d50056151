# fhirdr in a container, for `fhirdr replicate` on a schedule (Azure Container Apps jobs, Kubernetes CronJobs)
# or in a pipeline. The replicator keeps no local state: the watermark, lease and cycle history live in the
# storage account, so a container that is stopped, killed or rescheduled loses nothing.
#
#   docker build -t fhirdr .
#   docker run --rm -v $PWD/fhirdr.toml:/config/fhirdr.toml:ro fhirdr --target /config/fhirdr.toml replicate
#
# Credentials come from DefaultAzureCredential: a managed or workload identity in Azure, AZURE_CLIENT_ID /
# AZURE_TENANT_ID / AZURE_CLIENT_SECRET elsewhere. Never bake secrets into the image.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    FHIRDR_STATE_DIR=/tmp/fhirdr

WORKDIR /src
COPY pyproject.toml README.md CHANGELOG.md ./
COPY fhirdr ./fhirdr
COPY runbooks ./runbooks
RUN pip install . && rm -rf /src

RUN useradd --create-home --uid 10001 fhirdr
USER fhirdr
WORKDIR /home/fhirdr

# SIGTERM (docker stop, a job's timeout, a pod's eviction) ends `replicate --follow` cleanly: the lease is
# released and the watermark stays at the last verified import.
STOPSIGNAL SIGTERM
ENTRYPOINT ["fhirdr"]
CMD ["replicate", "--help"]
