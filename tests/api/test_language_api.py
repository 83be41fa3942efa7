"""A browser that asks for Chinese reads a service's refusal and its problem lists in Chinese; one
that asks for English reads them as before."""
import pytest
from gradio_client import Client

pytestmark = pytest.mark.api


def test_a_chinese_page_reads_the_services_words_in_chinese(studio):
    studio.start()
    zh = Client(studio.url, verbose=False, analytics_enabled=False, headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    en = Client(studio.url, verbose=False, analytics_enabled=False, headers={"Accept-Language": "en-US"})
    for client, words in ((zh, "没有名为 'no_such' 的数据集"), (en, "There is no dataset named 'no_such'")):
        for call in (lambda: client.predict("no_such", api_name="/load_dataset"),
                     lambda: client.predict("no_such", "sharegpt", "json", api_name="/export_dataset")):
            with pytest.raises(Exception) as e:  # the toast
                call()
            assert words in str(e.value), str(e.value)
    rows = {"headers": ["instruction", "input", "output"], "data": [["q", "", "a"], ["q2", "", ""]]}
    report = zh.predict(rows, "alpaca", 256, api_name="/check_dataset")
    assert "第 2 行" in report and "output 为空：模型会学会什么都不说" in report and "empty" not in report, report
    assert "row 2: output is empty" in en.predict(rows, "alpaca", 256, api_name="/check_dataset")
