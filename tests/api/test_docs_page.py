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
