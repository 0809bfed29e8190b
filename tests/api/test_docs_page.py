import re

from fastapi.testclient import TestClient


def test_api_docs_load_only_local_assets(client: TestClient) -> None:
    html = client.get("/docs").text
    urls = re.findall(r"""(?:src|href)=["']([^"']+)""", html) + re.findall(r"url: ?'([^']+)'", html)
    assert urls, html[:300]
    assert all(u.startswith("/") or u.startswith("data:") for u in urls), urls
    for u in urls:
        if u.startswith("/"):
            assert client.get(u).status_code == 200, u


def test_api_docs_start_without_inline_script(client: TestClient) -> None:
    """The CSP allows only script files: Swagger UI is started by /static/js/swagger-init.js."""
    html = client.get("/docs").text
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, flags=re.S)
    assert scripts and all('src="/' in attrs and not body.strip() for attrs, body in scripts), scripts
    assert 'src="/static/js/swagger-init.js"' in html
    (openapi,) = re.findall(r'data-openapi-url="([^"]+)"', html)
    assert client.get(openapi).json()["openapi"].startswith("3.")
