# alexis/postgres: Debian's PostgreSQL for the action handler's shared store
# (deploy/docker/postgres.yaml). BASE is Debian with the postgresql package,
# made offline by debian-rootfs.sh (build.sh postgres does both).
#
# The cluster is created on first start in the volume at PGDATA, owned by
# POSTGRES_USER (default alexis) whose password is read from
# POSTGRES_PASSWORD_FILE (a Swarm secret); POSTGRES_DB (default: the user)
# is created too. Connections need that password (scram-sha-256).
ARG BASE=alexis/debian-postgres:bookworm
FROM ${BASE}
ARG PG_MAJOR=15
# The package's own cluster goes; postgres gets uid/gid 999 so the stack can
# give it the password secret by number.
RUN set -eux; \
    rm -rf "/etc/postgresql/$PG_MAJOR/main" "/var/lib/postgresql/$PG_MAJOR/main"; \
    groupmod -g 999 postgres; usermod -u 999 -g 999 postgres; \
    mkdir -p /var/lib/postgresql/data /run/postgresql; \
    chown -R postgres:postgres /var/lib/postgresql /run/postgresql; \
    chmod 700 /var/lib/postgresql/data
COPY postgres-entrypoint.sh /usr/local/bin/alexis-postgres
ENV PATH=/usr/lib/postgresql/$PG_MAJOR/bin:/usr/local/bin:/usr/bin:/bin \
    PGDATA=/var/lib/postgresql/data
USER postgres
VOLUME ["/var/lib/postgresql/data"]
EXPOSE 5432
STOPSIGNAL SIGINT
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/usr/lib/postgresql/15/bin/pg_isready", "-h", "127.0.0.1", "-q"]
ENTRYPOINT ["/usr/local/bin/alexis-postgres"]
