# mtls-doctor lint corpus. Pattern: Helm .tpl: listen 443; ssl on; client CA from .Values
# Source: https://github.com/magma/magma/blob/HEAD/orc8r/cloud/helm/orc8r/charts/nms/templates/etc/_nginx_proxy_ssl.conf.tpl
# Written for this corpus from the pattern above, not copied.

server {
  listen 443;
  ssl on;
  ssl_certificate /etc/nginx/conf.d/{{ .Values.nginx.certName }}.pem;
  ssl_certificate_key /etc/nginx/conf.d/{{ .Values.nginx.certName }}.key.pem;
  ssl_client_certificate /etc/nginx/conf.d/{{ .Values.nginx.clientCA }};
  ssl_verify_client on;
  location / {
     proxy_pass http://{{ .Values.nginx.upstream }}:8081;
     proxy_set_header Host $http_host;
  }
}
