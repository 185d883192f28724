# The host the stack test remediates: Debian's OpenSSH server with one user,
# alexis, who may log in with the test's key only. Its sshd_config, host key
# and authorized_keys come from the stack (stack.yaml). BASE is made by
# deploy/docker/debian-rootfs.sh (no registry needed).
ARG BASE=alexis/debian-sshd:bookworm
FROM ${BASE}
RUN useradd --create-home --shell /bin/bash alexis \
 && usermod -p '*' alexis \
 && mkdir -p /run/sshd /etc/ssh/authorized_keys \
 && rm -f /etc/ssh/ssh_host_*
EXPOSE 22
CMD ["/usr/sbin/sshd", "-D", "-e", "-f", "/etc/ssh/sshd_config.stacktest"]
